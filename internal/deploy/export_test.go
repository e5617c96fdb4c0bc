package deploy

// ZstdTakesNoAsyncio lets the external tests read zstd versions as the
// engine does.
var ZstdTakesNoAsyncio = zstdTakesNoAsyncio

// ContainsWord lets the external tests check how health answers match.
var ContainsWord = containsWord
