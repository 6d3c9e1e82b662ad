// Package smstext is the text of an SMS, without any connection: it picks
// the encoding of a text and cuts it into parts (GSM 03.38 7-bit with its
// extension table, UCS-2 as UTF-16, Latin-1), builds and reads the user
// data header that ties parts together, decodes incoming payloads, reads
// and writes the text form of delivery receipts (SMPP 3.4 Appendix B) and
// normalizes carrier message ids. It has no I/O and imports only the
// standard library: adapters count parts (Count) without importing the
// SMPP connector (package smpp) or the gateway, and the connector cuts
// parts (Segment) that match that count.
//
// # Invariants
//
//   - Units. GSM 7-bit text is counted in septets, and a character of the
//     extension table (€ [ ] { } | ^ ~ \ and form feed) costs two: the
//     escape 0x1B and its code. UCS-2 text is counted in UTF-16 code units,
//     and a character outside the Basic Multilingual Plane (an emoji) costs
//     two: a surrogate pair. Latin-1 text is counted in octets.
//   - Sizes. An SMS carries 140 octets of user data. A text alone in one
//     SMS holds 160 septets, 140 octets or 70 UTF-16 units. A part of a
//     concatenated text loses the UDH from those 140 octets: 153 / 134 / 67
//     with the 6-octet UDH (8-bit reference), 152 / 133 / 66 with the
//     7-octet one (16-bit reference). A packed GSM part with its UDH never
//     exceeds 140 octets; an unpacked one holds one septet per octet
//     (the SMSC packs it), so at most 160, or 153 after the UDH.
//   - Parts. A text needing more than 255 parts is refused (ErrTextTooLong):
//     the concatenation IE counts parts in one octet. Empty text and
//     invalid UTF-8 are refused too. These errors are permanent: the same
//     text can never be sent.
//   - Encoding. GSM 7-bit when every character is in the default alphabet
//     or its extension table, else UCS-2. Latin-1 only when asked
//     (TextOptions.Latin1) and when it gives exactly UCS-2's part count.
//   - Count and Segment agree: Count gives the encoding and part count
//     Segment gives with default options, without building parts, and no
//     option changes that count. With ConcatUDH16 a text the larger header
//     would push into one more part is cut for the 8-bit UDH instead
//     (Segments.Concat says which); SAR and message_payload are cut as for
//     the 8-bit UDH; a carrier alphabet other than GSM 03.38 writes the same
//     parts one octet per character, or refuses the text (ErrAlphabet).
//   - Nothing is split. An extension character (escape + code) and a
//     surrogate pair always stay in one part, so every part decodes on its
//     own and no handset shows half a character.
//   - UDH. ConcatUDH is 05 00 03 ref total seq (6 octets), ConcatUDH16Bit
//     06 08 04 ref-hi ref-lo total seq (7 octets); seq counts from 1, and
//     every part of one message must carry the same reference. Packed GSM
//     parts after the 6-octet UDH start with 1 fill bit so their septets
//     begin on a septet boundary (FillBits); after the 7-octet UDH, or
//     without UDH, none. A packed part that would leave 7 spare bits ends
//     with a padding CR, which decoding drops again.
//   - Reading. SplitUDH ignores a concatenation IE whose total is 0 or
//     whose seq is 0 or above total, as TS 23.040 says, lets the last
//     valid one win, and refuses a header whose lengths overrun
//     (ErrMalformedUDH). DecodeText and DecodeTextUDH never panic: an
//     unknown or binary data_coding is ErrDataCoding, a lone surrogate or
//     an IA5 octet above 0x7F becomes U+FFFD rather than losing the
//     message.
//   - Receipts. ParseReceipt reads carriers' variations (case, order,
//     spaces, missing fields, dates with or without seconds, read as UTC)
//     and fails only without an id (ErrNoReceiptID).
//   - Message ids. NormalizeID never fails: the id a carrier gives in
//     submit_sm_resp and the one in its receipt, written in the declared
//     IDFormat, normalize to the same string; an id that does not parse is
//     kept, trimmed, so its receipt stays visible instead of lost.
//
// Encoding names are those of gateway.Encoding (GSM7, UCS2), which keeps
// its own type; Count is generic in the caller's string type so that
// Count[gateway.Encoding] is a gateway.Segmenter without this package
// importing gateway.
package smstext
