"""Running the server: metrics (with a gauge registry the owners fill), logs, health probes, the
access-log mask, and the one-line reasons a process stops with. Knows no domain: every layer may
import it."""
