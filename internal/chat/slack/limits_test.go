package slack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	goslack "github.com/slack-go/slack"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/chat/chattest"
	"github.com/switchman-bot/switchman/internal/chat/slack"
)

// blockKitError is what Slack's Web API says of blocks it refuses
// (invalid_blocks, with the first problem as Slack words it), or "" for
// blocks within Block Kit's documented limits
// (https://api.slack.com/reference/block-kit/blocks). The fake refuses
// what Slack refuses, so that a rendering over a limit fails a test as it
// would lose the whole message in Slack.
func blockKitError(blocks, text string) string {
	if blocks == "" {
		if text == "" {
			return "no_text"
		}
		return ""
	}
	var bs []struct {
		Type     string          `json:"type"`
		Text     *textObject     `json:"text"`
		Fields   []textObject    `json:"fields"`
		Elements json.RawMessage `json:"elements"`
	}
	if err := json.Unmarshal([]byte(blocks), &bs); err != nil {
		return "invalid_blocks_format"
	}
	if len(bs) == 0 && text == "" {
		return "no_text"
	}
	if len(bs) > 50 {
		return "invalid_blocks: no more than 50 items allowed [json-pointer:/blocks]"
	}
	for i, b := range bs {
		at := fmt.Sprintf("/blocks/%d", i)
		switch b.Type {
		case "header":
			if msg := b.Text.check(at+"/text", 150); msg != "" {
				return msg
			}
		case "section":
			if b.Text == nil && len(b.Fields) == 0 {
				return "invalid_blocks: must provide text or fields [json-pointer:" + at + "]"
			}
			if b.Text != nil {
				if msg := b.Text.check(at+"/text", 3000); msg != "" {
					return msg
				}
			}
			if len(b.Fields) > 10 {
				return "invalid_blocks: no more than 10 items allowed [json-pointer:" + at + "/fields]"
			}
			for j, f := range b.Fields {
				if msg := f.check(fmt.Sprintf("%s/fields/%d", at, j), 2000); msg != "" {
					return msg
				}
			}
		case "context":
			var elems []json.RawMessage
			json.Unmarshal(b.Elements, &elems)
			if len(elems) > 10 {
				return "invalid_blocks: no more than 10 items allowed [json-pointer:" + at + "/elements]"
			}
		case "actions":
			var elems []struct {
				Type     string      `json:"type"`
				Text     *textObject `json:"text"`
				ActionID string      `json:"action_id"`
				Value    string      `json:"value"`
				Confirm  *struct {
					Title   *textObject `json:"title"`
					Text    *textObject `json:"text"`
					Confirm *textObject `json:"confirm"`
					Deny    *textObject `json:"deny"`
				} `json:"confirm"`
			}
			if err := json.Unmarshal(b.Elements, &elems); err != nil {
				return "invalid_blocks_format"
			}
			if len(elems) > 25 {
				return "invalid_blocks: no more than 25 items allowed [json-pointer:" + at + "/elements]"
			}
			ids := map[string]bool{}
			for j, e := range elems {
				el := fmt.Sprintf("%s/elements/%d", at, j)
				if e.Type != "button" {
					continue
				}
				if msg := e.Text.check(el+"/text", 75); msg != "" {
					return msg
				}
				if n := utf8.RuneCountInString(e.ActionID); n > 255 || ids[e.ActionID] {
					return "invalid_blocks: action_id must be unique and less than 256 characters [json-pointer:" + el + "/action_id]"
				}
				ids[e.ActionID] = true
				if utf8.RuneCountInString(e.Value) > 2000 {
					return "invalid_blocks: must be less than 2001 characters [json-pointer:" + el + "/value]"
				}
				if c := e.Confirm; c != nil {
					for _, part := range []struct {
						name string
						t    *textObject
						max  int
					}{{"title", c.Title, 100}, {"text", c.Text, 300}, {"confirm", c.Confirm, 30}, {"deny", c.Deny, 30}} {
						if msg := part.t.check(el+"/confirm/"+part.name, part.max); msg != "" {
							return msg
						}
					}
				}
			}
		}
	}
	return ""
}

type textObject struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// check returns Slack's complaint about a text object of at most max
// characters at the JSON pointer at, or "".
func (t *textObject) check(at string, max int) string {
	if t == nil {
		return "invalid_blocks: missing required field: text [json-pointer:" + at + "]"
	}
	switch n := utf8.RuneCountInString(t.Text); {
	case n == 0:
		return "invalid_blocks: must be more than 0 characters [json-pointer:" + at + "/text]"
	case n > max:
		return fmt.Sprintf("invalid_blocks: must be less than %d characters [json-pointer:%s/text]", max+1, at)
	}
	return ""
}

// TestFakeRefusesWhatSlackRefuses: the fake Web API answers invalid_blocks
// where Slack does, so the tests above it would see a message Slack
// drops.
func TestFakeRefusesWhatSlackRefuses(t *testing.T) {
	section := func(text string) goslack.Block {
		return goslack.NewSectionBlock(goslack.NewTextBlockObject(goslack.MarkdownType, text, false, false), nil, nil)
	}
	var many []goslack.Block
	for range 51 {
		many = append(many, section("x"))
	}
	var fields []*goslack.TextBlockObject
	for range 11 {
		fields = append(fields, goslack.NewTextBlockObject(goslack.MarkdownType, "x", false, false))
	}
	tests := []struct {
		name   string
		blocks []goslack.Block
		want   string // the error, "" for accepted
	}{
		{"within the limits", []goslack.Block{section(strings.Repeat("x", 3000))}, ""},
		{"header of 151", []goslack.Block{goslack.NewHeaderBlock(goslack.NewTextBlockObject(goslack.PlainTextType, strings.Repeat("x", 151), false, false))}, "invalid_blocks"},
		{"section of 3001", []goslack.Block{section(strings.Repeat("x", 3001))}, "invalid_blocks"},
		{"empty section", []goslack.Block{section("")}, "invalid_blocks"},
		{"11 fields", []goslack.Block{goslack.NewSectionBlock(nil, fields, nil)}, "invalid_blocks"},
		{"51 blocks", many, "invalid_blocks"},
		{"button of 76", []goslack.Block{goslack.NewActionBlock("a", goslack.NewButtonBlockElement("id", "v",
			goslack.NewTextBlockObject(goslack.PlainTextType, strings.Repeat("x", 76), false, false)))}, "invalid_blocks"},
	}
	api := newFakeSlack(t)
	client := goslack.New("xoxb-test", goslack.OptionAPIURL(api.apiURL()))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := client.PostMessageContext(context.Background(), "C1", goslack.MsgOptionBlocks(tt.blocks...), goslack.MsgOptionText("fallback", false))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("got error %q, want %q", got, tt.want)
			}
		})
	}
}

// TestLargeMessagesFit: the largest messages Switchman sends (a deploy to
// 50 hosts that all failed with 4 KiB of standard error, a train of 20
// cars) are accepted by the Web API, which refuses a message whole when
// one block is over a limit.
func TestLargeMessagesFit(t *testing.T) {
	api := newFakeSlack(t)
	client := slack.NewClient("xoxb-test", api.apiURL(), nil, nil)
	for _, tt := range chattest.Large() {
		t.Run(tt.Name, func(t *testing.T) {
			if err := client.Post(context.Background(), "C1", tt.Message); err != nil {
				t.Errorf("got %v, want the message accepted", err)
			}
		})
	}
}

// TestRenderEdgeCasesAccepted: messages at the edges of the model render
// to blocks Slack accepts: blank lines make no empty section, a message
// with nothing to show still has text, and buttons running the same
// command get distinct action_ids however many there are.
func TestRenderEdgeCasesAccepted(t *testing.T) {
	same := chat.Button{Label: "Again", Action: "status web"}
	tests := []struct {
		name string
		m    chat.Message
	}{
		{"blank line", chat.Message{Title: "Status", Lines: []string{""}}},
		{"blank lines only", chat.Message{Lines: []string{"", " "}}},
		{"empty message", chat.Message{}},
		{"three buttons alike", chat.Message{Title: "Status", Buttons: []chat.Button{same, same, same}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blocks, text := slack.Render(tt.m)
			js, err := json.Marshal(blocks)
			if err != nil {
				t.Fatal(err)
			}
			if got := blockKitError(string(js), text); got != "" {
				t.Errorf("got %s for blocks %s, want them accepted", got, js)
			}
		})
	}
}
