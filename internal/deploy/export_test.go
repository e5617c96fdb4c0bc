package deploy

import "github.com/switchman-bot/switchman/internal/redact"

// ZstdTakesNoAsyncio lets the external tests read zstd versions as the
// engine does.
var ZstdTakesNoAsyncio = zstdTakesNoAsyncio

// ContainsWord lets the external tests check how health answers match.
var ContainsWord = containsWord

// MarkBadScript lets the external tests tell the script that marks a
// release bad from the others a host runs.
var MarkBadScript = markBadScript

// HidingTransport lets the external tests run a real transport's errors
// through the hiding the engine gives every host's.
func HidingTransport(tr Transport, secrets ...string) Transport {
	return hidingTransport{tr, redact.NewSecrets(secrets...)}
}
