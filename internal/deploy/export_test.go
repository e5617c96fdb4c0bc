package deploy

// ZstdTakesNoAsyncio lets the external tests read zstd versions as the
// engine does.
var ZstdTakesNoAsyncio = zstdTakesNoAsyncio
