"""What a request produces, assembled with no I/O: `Reply`, `ToolReply`, `MapResults`."""
