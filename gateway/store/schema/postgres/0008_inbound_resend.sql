-- A single-part MO resent by the carrier after a reconnect (the gateway
-- stored it and died before acknowledging) carries no id: RecordInbound
-- finds the copy it stored by (carrier, sender) and receipt time.
CREATE INDEX inbound_resend ON inbound (carrier, sender, received_at);
