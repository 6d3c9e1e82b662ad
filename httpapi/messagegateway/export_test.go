package messagegateway

// SendRaw lets the external tests put bytes on the wire as Fineract does.
var SendRaw = sendRaw
