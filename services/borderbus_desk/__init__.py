"""The duty desk: officers' live view of the alerts they may see, their actions, and escalation."""
