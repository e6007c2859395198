"""The console: server-rendered pages for legal, privacy and operations staff."""
