package deploy

// ZstdTakesNoAsyncio lets the external tests read zstd versions as the
// engine does.
var ZstdTakesNoAsyncio = zstdTakesNoAsyncio

// ContainsWord lets the external tests check how health answers match.
var ContainsWord = containsWord

// MarkBadScript lets the external tests tell the script that marks a
// release bad from the others a host runs.
var MarkBadScript = markBadScript
