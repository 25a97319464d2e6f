"""Jobs: launching, control, the outbox, progress, record status and flow, from the web and the workers."""
