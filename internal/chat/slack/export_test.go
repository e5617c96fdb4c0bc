package slack

import (
	"context"
	"sync"

	slackapi "github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// RefuseLeft hands the adapter Socket Mode envelopes as if its client had
// received them as the socket closed, which no timing of a real socket
// makes certain, and returns once their senders were told.
func (a *Adapter) RefuseLeft(ctx context.Context, envs ...socketmode.Request) {
	types := map[string]socketmode.EventType{
		socketmode.RequestTypeEventsAPI:     socketmode.EventTypeEventsAPI,
		socketmode.RequestTypeSlashCommands: socketmode.EventTypeSlashCommand,
		socketmode.RequestTypeInteractive:   socketmode.EventTypeInteractive,
	}
	events := make(chan socketmode.Event, len(envs))
	for _, env := range envs {
		events <- socketmode.Event{Type: types[env.Type], Request: &env}
	}
	var notices sync.WaitGroup
	a.refuseLeft(ctx, events, &notices)
	notices.Wait()
}

// Retry is retry, for tests of when it waits.
var Retry = retry

// SocketEvent hands the adapter one event of its Socket Mode client, as
// RunSocketMode does: for the events no timing of a real socket makes
// certain (an acknowledgement whose write failed).
func (a *Adapter) SocketEvent(ctx context.Context, ev socketmode.Event) {
	var envelopes, notices sync.WaitGroup
	a.event(ctx, nil, ev, false, &envelopes, &notices)
	envelopes.Wait()
	notices.Wait()
}

// AckOn acknowledges envelopeID with payload through a Socket Mode client
// that never connects: for the acknowledgements the client refuses before
// any socket is involved (a payload it cannot encode).
func (a *Adapter) AckOn(ctx context.Context, envelopeID string, payload any) {
	a.ack(ctx, socketmode.New(slackapi.New("xoxb-test")), envelopeID, payload)
}
