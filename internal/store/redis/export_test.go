package redis

// FenceRetention is how long the fence of a run's lease outlives the
// lease.
const FenceRetention = fenceRetention
