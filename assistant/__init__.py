"""The cited-passage assistant. Importing the package switches off the network use and telemetry
of the libraries it loads (assistant.offline), before any module of it can import one."""

from assistant.offline import switch_off

switch_off()
