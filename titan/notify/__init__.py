"""Push notifications (SPEC §11): bus events an operator must hear about, sent through apprise.

`messages` turns an event into a short what/why/what-to-do message (or nothing);
`notifier` queues them off the trading path and delivers them in the background.
"""
