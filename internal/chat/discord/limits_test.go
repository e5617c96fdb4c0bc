package discord

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/switchman-bot/switchman/internal/chat/chattest"
)

// formError is Discord's answer to a message over one of its documented
// limits (https://discord.com/developers/docs/resources/message): 400,
// code 50035, with the first problem; "" for a message within them. The
// fake refuses what Discord refuses, so that a rendering over a limit
// fails a test as it would lose the whole message in Discord.
func formError(body []byte) string {
	var msg struct {
		Content string `json:"content"`
		Embeds  []struct {
			Title       string `json:"title"`
			Description string `json:"description"`
			Fields      []struct {
				Name  *string `json:"name"`
				Value *string `json:"value"`
			} `json:"fields"`
			Footer *struct {
				Text string `json:"text"`
			} `json:"footer"`
			Author *struct {
				Name string `json:"name"`
			} `json:"author"`
		} `json:"embeds"`
		Components []struct {
			Components []struct {
				Label    string `json:"label"`
				CustomID string `json:"custom_id"`
			} `json:"components"`
		} `json:"components"`
		Data json.RawMessage `json:"data"` // an interaction callback's message
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		return ""
	}
	if len(msg.Data) > 0 {
		return formError(msg.Data)
	}
	n := utf8.RuneCountInString
	tooLong := func(path string, max int) string {
		return fmt.Sprintf(`{"code":50035,"message":"Invalid Form Body","errors":{%q:{"_errors":[{"code":"BASE_TYPE_MAX_LENGTH","message":"Must be %d or fewer in length."}]}}}`, path, max)
	}
	required := func(path string) string {
		return fmt.Sprintf(`{"code":50035,"message":"Invalid Form Body","errors":{%q:{"_errors":[{"code":"BASE_TYPE_REQUIRED","message":"This field is required"}]}}}`, path)
	}
	if n(msg.Content) > 2000 {
		return tooLong("content", 2000)
	}
	if len(msg.Embeds) > 10 {
		return tooLong("embeds", 10)
	}
	total := 0
	for i, e := range msg.Embeds {
		at := fmt.Sprintf("embeds.%d", i)
		switch {
		case n(e.Title) > 256:
			return tooLong(at+".title", 256)
		case n(e.Description) > 4096:
			return tooLong(at+".description", 4096)
		case len(e.Fields) > 25:
			return tooLong(at+".fields", 25)
		}
		total += n(e.Title) + n(e.Description)
		if e.Footer != nil {
			total += n(e.Footer.Text)
		}
		if e.Author != nil {
			total += n(e.Author.Name)
		}
		for j, f := range e.Fields {
			fat := fmt.Sprintf("%s.fields.%d", at, j)
			switch {
			case f.Name == nil:
				return required(fat + ".name")
			case f.Value == nil:
				return required(fat + ".value")
			case n(*f.Name) > 256:
				return tooLong(fat+".name", 256)
			case n(*f.Value) > 1024:
				return tooLong(fat+".value", 1024)
			}
			total += n(*f.Name) + n(*f.Value)
		}
	}
	if total > 6000 {
		return `{"code":50035,"message":"Invalid Form Body","errors":{"embeds":{"_errors":[{"code":"MAX_EMBED_SIZE_EXCEEDED","message":"Embed size exceeds maximum size of 6000"}]}}}`
	}
	if len(msg.Components) > 5 {
		return tooLong("components", 5)
	}
	ids := map[string]bool{}
	for i, row := range msg.Components {
		if len(row.Components) > 5 {
			return tooLong(fmt.Sprintf("components.%d.components", i), 5)
		}
		for j, b := range row.Components {
			at := fmt.Sprintf("components.%d.components.%d", i, j)
			switch {
			case n(b.Label) > 80:
				return tooLong(at+".label", 80)
			case n(b.CustomID) > 100:
				return tooLong(at+".custom_id", 100)
			case ids[b.CustomID]:
				return fmt.Sprintf(`{"code":50035,"message":"Invalid Form Body","errors":{%q:{"_errors":[{"code":"COMPONENT_CUSTOM_ID_DUPLICATED","message":"Component custom id cannot be duplicated"}]}}}`, at+".custom_id")
			}
			ids[b.CustomID] = true
		}
	}
	return ""
}

// TestFakeRefusesWhatDiscordRefuses: the fake answers 400 (50035) where
// Discord does, so the tests that use it would see a message Discord
// drops.
func TestFakeRefusesWhatDiscordRefuses(t *testing.T) {
	field := func(name, value string) *discordgo.MessageEmbedField {
		return &discordgo.MessageEmbedField{Name: name, Value: value}
	}
	var fields []*discordgo.MessageEmbedField
	for range 26 {
		fields = append(fields, field("n", "v"))
	}
	var big []*discordgo.MessageEmbedField
	for range 6 {
		big = append(big, field("n", strings.Repeat("v", 1000)))
	}
	tests := []struct {
		name  string
		embed discordgo.MessageEmbed
		want  int
	}{
		{"within the limits", discordgo.MessageEmbed{Title: strings.Repeat("t", 256), Description: strings.Repeat("d", 4096)}, http.StatusOK},
		{"title of 257", discordgo.MessageEmbed{Title: strings.Repeat("t", 257)}, http.StatusBadRequest},
		{"description of 4097", discordgo.MessageEmbed{Description: strings.Repeat("d", 4097)}, http.StatusBadRequest},
		{"26 fields", discordgo.MessageEmbed{Fields: fields}, http.StatusBadRequest},
		{"field value of 1025", discordgo.MessageEmbed{Fields: []*discordgo.MessageEmbedField{field("n", strings.Repeat("v", 1025))}}, http.StatusBadRequest},
		{"6,001 in all", discordgo.MessageEmbed{Title: "t", Fields: big}, http.StatusBadRequest},
	}
	hs := newHarness(t, nil, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := hs.a.s.ChannelMessageSendComplex(testChannel, &discordgo.MessageSend{Embeds: []*discordgo.MessageEmbed{&tt.embed}})
			got := http.StatusOK
			if rerr, ok := err.(*discordgo.RESTError); ok {
				got = rerr.Response.StatusCode
			} else if err != nil {
				t.Fatalf("got %v, want a REST answer", err)
			}
			if got != tt.want {
				t.Errorf("got status %d, want %d", got, tt.want)
			}
		})
	}
}

// TestLargeMessagesFit: the largest messages Switchman sends (a deploy to
// 50 hosts that all failed with 4 KiB of standard error, a train of 20
// cars) are accepted by Discord, which refuses a message whole when it
// is over one limit.
func TestLargeMessagesFit(t *testing.T) {
	hs := newHarness(t, nil, nil)
	for _, tt := range chattest.Large() {
		t.Run(tt.Name, func(t *testing.T) {
			if err := hs.a.Post(context.Background(), testChannel, tt.Message); err != nil {
				t.Errorf("got %v, want the message accepted", err)
			}
		})
	}
}
