"""The Z.ai chat-completions wire format: request bodies out, typed stream events in. No I/O."""
