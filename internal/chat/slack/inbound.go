package slack

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/switchman-bot/switchman/internal/commands"
)

// The parts of Slack's payloads the adapter reads. Slash commands arrive
// as a form over HTTP and as JSON with the same names over Socket Mode;
// interactions and events are JSON either way.

type slashCommand struct {
	Command     string `json:"command"`
	Text        string `json:"text"`
	UserID      string `json:"user_id"`
	ChannelID   string `json:"channel_id"`
	ResponseURL string `json:"response_url"`
	TriggerID   string `json:"trigger_id"`
	TeamID      string `json:"team_id"`
}

type interaction struct {
	Type string `json:"type"`
	Team struct {
		ID string `json:"id"`
	} `json:"team"`
	TriggerID   string `json:"trigger_id"`
	ResponseURL string `json:"response_url"`
	User        struct {
		ID     string `json:"id"`
		TeamID string `json:"team_id"` // the user's own workspace
	} `json:"user"`
	Channel struct {
		ID string `json:"id"`
	} `json:"channel"`
	Container struct {
		ChannelID string `json:"channel_id"`
	} `json:"container"`
	Actions []struct {
		ActionID string `json:"action_id"`
		Value    string `json:"value"`
	} `json:"actions"`
}

type eventEnvelope struct {
	Type      string `json:"type"`
	Challenge string `json:"challenge"`
	EventID   string `json:"event_id"`
	TeamID    string `json:"team_id"`
	Event     struct {
		Type    string `json:"type"`
		Subtype string `json:"subtype"`
		User    string `json:"user"`
		BotID   string `json:"bot_id"`
		Text    string `json:"text"`
		Channel string `json:"channel"`
		// UserTeam is the user's own workspace, which differs from the
		// envelope's in a channel shared with another one.
		UserTeam string `json:"user_team"`
		// Edited is set when Slack sends the mention again because its
		// message was edited.
		Edited json.RawMessage `json:"edited"`
	} `json:"event"`
	// Authorizations name an installation the event is visible to; for
	// the bot's own, is_bot is set and user_id is the bot user.
	Authorizations []struct {
		UserID string `json:"user_id"`
		IsBot  bool   `json:"is_bot"`
	} `json:"authorizations"`
}

// botUser is the bot user the event was delivered to, or "" when the
// envelope does not say.
func (env eventEnvelope) botUser() string {
	for _, au := range env.Authorizations {
		if au.IsBot && au.UserID != "" {
			return au.UserID
		}
	}
	return ""
}

// mentionID is the user id of a mention token ("U123" of "<@U123>" or
// "<@U123|ana>").
func mentionID(token string) string {
	id := strings.TrimSuffix(strings.TrimPrefix(token, "<@"), ">")
	id, _, _ = strings.Cut(id, "|")
	return id
}

// mentionIDs returns the user ids text mentions, each once.
func mentionIDs(text string) map[string]bool {
	ids := map[string]bool{}
	for i := strings.Index(text, "<@"); i >= 0; {
		if tok := commands.LeadingMention(text[i:]); tok != "" {
			ids[mentionID(tok)] = true
		}
		next := strings.Index(text[i+2:], "<@")
		if next < 0 {
			break
		}
		i += 2 + next
	}
	return ids
}

var errIncomplete = errors.New("payload without user or channel")

// commandRequest turns a verified slash command into a request.
func (a *Adapter) commandRequest(sc slashCommand, body []byte) (request, error) {
	if sc.UserID == "" || sc.ChannelID == "" {
		return request{}, errIncomplete
	}
	req := request{kind: "command", team: sc.TeamID, userID: sc.UserID, channel: sc.ChannelID, responseURL: sc.ResponseURL,
		text: a.commandText(sc.Command, sc.Text), keys: []string{key(sc.TriggerID, body)}}
	// The parser strips a leading mention as the bot's, as it is in a
	// message that mentions the bot. Here the text may start with anyone's
	// ("/switchman @ana lock deploys web prod", Slack escaping users): it
	// runs only if it is the bot's, which the adapter knows once auth.test
	// named it.
	if lead := commands.LeadingMention(req.text); lead != "" {
		if bot := a.client.BotUser(); bot == "" || mentionID(lead) != bot {
			req.refused = reasonCommandMention
		}
	}
	return req, nil
}

// interactionRequest turns a verified interaction payload into a request:
// a click on one of the adapter's buttons runs the button's command as
// the user who clicked. Anything else is ignored (ok false).
func interactionRequest(payload []byte) (req request, ok bool, err error) {
	var in interaction
	if err := json.Unmarshal(payload, &in); err != nil {
		return request{}, false, fmt.Errorf("decode interaction: %w", err)
	}
	if in.Type != "block_actions" {
		return request{}, false, nil
	}
	var text string
	for _, act := range in.Actions {
		if cmd, ours := strings.CutPrefix(act.ActionID, actionIDPrefix); ours {
			text = act.Value
			if text == "" {
				text = cmd
			}
			break
		}
	}
	if text == "" {
		return request{}, false, nil
	}
	channel := in.Channel.ID
	if channel == "" {
		channel = in.Container.ChannelID
	}
	if in.User.ID == "" || channel == "" {
		return request{}, false, errIncomplete
	}
	return request{kind: "interaction", team: userTeam(in.User.TeamID, in.Team.ID), userID: in.User.ID, channel: channel, responseURL: in.ResponseURL,
		text: text, keys: []string{key(in.TriggerID, payload)}}, true, nil
}

// eventRequest reads a verified Events API payload: the challenge of a
// url_verification, or the request of an app_mention ("@switchman deploy
// web 42"; the parser strips the mention). Other events, messages from
// bots and the notes Slack writes itself are ignored (ok false); a
// mention of a message subtype not known (see mentionSubtypes) is a
// request refused. The mention of an edited message,
// which Slack sends again under a new event id, is a request refused: the
// message asked already, and its author learns that the edit ran nothing.
// So is the mention of a message that starts with someone else's mention,
// or with one the adapter cannot tell for the bot's: the bot is botUser,
// or, when that is "", the bot user the event's authorizations name. Slack lists one installation there, not always the
// bot's own where several installed the app (a channel shared between
// organisations), so the user id auth.test gave the bot goes first.
func eventRequest(payload []byte, botUser string) (challenge string, req request, ok bool, err error) {
	var env eventEnvelope
	if err := json.Unmarshal(payload, &env); err != nil {
		return "", request{}, false, fmt.Errorf("decode event: %w", err)
	}
	switch env.Type {
	case "url_verification":
		return env.Challenge, request{}, false, nil
	case "event_callback":
	default:
		return "", request{}, false, nil
	}
	ev := env.Event
	kind, known := mentionSubtypes[ev.Subtype]
	if ev.Type != "app_mention" || ev.BotID != "" || known && kind == subtypeIgnored {
		return "", request{}, false, nil
	}
	if ev.User == "" || ev.Channel == "" {
		if !known || kind != subtypeRun {
			// Nobody to answer: an edit or a message of a new kind
			// may name its author elsewhere. Refused with a 400, it
			// would come back with each of Slack's retries.
			return "", request{}, false, nil
		}
		return "", request{}, false, errIncomplete
	}
	req = request{kind: "mention", team: userTeam(ev.UserTeam, env.TeamID), userID: ev.User, channel: ev.Channel, text: unescape(ev.Text),
		keys: []string{key(env.EventID, payload)}}
	switch {
	case len(ev.Edited) > 0 && string(ev.Edited) != "null", kind == subtypeEdited:
		req.refused = reasonEdited
	case !known:
		req.refused = reasonSubtype(ev.Subtype)
	}
	// Slack sends the mention wherever the bot is named in the message;
	// the parser takes a leading mention for the bot's. One that starts
	// with another member's is addressed to them, the bot copied in.
	bot := botUser
	if bot == "" {
		bot = env.botUser()
	}
	switch lead := commands.LeadingMention(req.text); {
	case req.refused != "" || lead == "":
	case bot == "":
		// Slack sends app_mention only for a message that names the
		// bot: one that names nobody else leads with the bot's mention.
		// Else the leading one may be another member's, which the
		// parser would strip as the bot's and run the message.
		if len(mentionIDs(req.text)) > 1 {
			req.refused = reasonBotUnknown
		}
	case mentionID(lead) != bot:
		req.refused = reasonNotAddressed
	}
	return "", req, true, nil
}

// appRateLimited is the event Slack sends in place of an app's events
// once they passed the Events API's limit (30,000 an hour in a
// workspace): those of the minute it names are never delivered.
type appRateLimited struct {
	Type   string `json:"type"`
	TeamID string `json:"team_id"`
	Minute int64  `json:"minute_rate_limited"`
}

// noteRateLimited logs payload at WARN when it is Slack's app_rate_limited:
// the mentions Slack held back are answered by nobody, their senders see
// nothing, and the bot would otherwise seem to have gone quiet.
func (a *Adapter) noteRateLimited(payload []byte) {
	var ev appRateLimited
	if json.Unmarshal(payload, &ev) != nil || ev.Type != "app_rate_limited" {
		return
	}
	a.log.Warn("slack is not delivering this app's events: it sent more than Slack's limit (30,000 an hour in a workspace), so the mentions of that minute go unanswered",
		"team", ev.TeamID, "minute", time.Unix(ev.Minute, 0).UTC())
}

// What the adapter does with an app_mention of a message subtype.
const (
	subtypeRun     = iota // a member wrote it: it runs as any mention does
	subtypeEdited         // refused as an edited message is
	subtypeIgnored        // Slack or a bot wrote it: dropped without an answer
)

// mentionSubtypes are the message subtypes an app_mention may carry, as
// Slack documents them for message events; "" is a plain message. A
// subtype not listed is refused, with an answer and an audit entry, so
// that a kind of message Slack adds later neither runs unseen nor
// vanishes without a word.
var mentionSubtypes = map[string]int{
	"": subtypeRun,
	// A thread reply also sent to the channel, a message with a file,
	// a /me message: typed by a member, who expects it to run.
	"thread_broadcast": subtypeRun,
	"file_share":       subtypeRun,
	"me_message":       subtypeRun,
	// Slack sends an edit as an app_mention with "edited"; an edit it
	// labels so is refused alike.
	"message_changed": subtypeEdited,
	// Messages of bots (which may loop with the bot's own answers) and
	// notes Slack writes itself, such as "@switchman has joined the
	// channel" or a topic naming the bot: nobody asked for anything.
	"bot_message":                 subtypeIgnored,
	"channel_join":                subtypeIgnored,
	"channel_leave":               subtypeIgnored,
	"channel_topic":               subtypeIgnored,
	"channel_purpose":             subtypeIgnored,
	"channel_name":                subtypeIgnored,
	"channel_archive":             subtypeIgnored,
	"channel_unarchive":           subtypeIgnored,
	"channel_posting_permissions": subtypeIgnored,
	"channel_convert_to_private":  subtypeIgnored,
	"channel_convert_to_public":   subtypeIgnored,
	"group_join":                  subtypeIgnored,
	"group_leave":                 subtypeIgnored,
	"group_topic":                 subtypeIgnored,
	"group_purpose":               subtypeIgnored,
	"group_name":                  subtypeIgnored,
	"group_archive":               subtypeIgnored,
	"group_unarchive":             subtypeIgnored,
	"pinned_item":                 subtypeIgnored,
	"unpinned_item":               subtypeIgnored,
	"reminder_add":                subtypeIgnored,
	"message_deleted":             subtypeIgnored,
	"message_replied":             subtypeIgnored,
	"ekm_access_denied":           subtypeIgnored,
}

// subtypeName matches a subtype fit to quote in an answer and the audit log.
var subtypeName = regexp.MustCompile(`^[a-z0-9_]{1,40}$`)

// reasonSubtype is why a mention of a message of an unknown subtype was
// refused.
func reasonSubtype(subtype string) string {
	if !subtypeName.MatchString(subtype) {
		subtype = "unknown"
	}
	return "Switchman does not run a message of this kind (" + subtype + "), so nothing was run: send the command as a plain message."
}

// userTeam is the workspace a request is from: the user's own when the
// payload names it, else the one it was delivered for. In a channel shared
// with another organisation (Slack Connect), the envelope is the host
// workspace's whoever wrote; the user's team tells an external member.
func userTeam(user, delivered string) string {
	if user != "" {
		return user
	}
	return delivered
}
