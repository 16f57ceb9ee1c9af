"""Getting job events to watchers: the process hub on the channel layer, each client's
watcher, the fallback poll and the settling of lost jobs."""
