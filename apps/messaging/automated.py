"""Whether an inbound email was sent by a machine: an auto-reply, a bounce, bulk mail.

Why: a vacation reply or a bounce in a sequence thread is not the candidate speaking, and writing
it to Greenhouse clutters the candidate's activity feed with notes nobody wants (issue 16). The
headers that say so are only in the MIME message, which is not kept for matched replies, so the
first marker found is stored on the message (`Message.automated_by`) when it is received, in the
words of the header, and the team's exclusions decide later whether it is synced.

The markers, most specific first:
- `Auto-Submitted` with any value but `no` (RFC 3834: auto-replied, auto-generated, ...);
- `X-Autoreply` / `X-Autorespond` (Exchange, cPanel, many vacation responders);
- `Precedence: auto_reply`, `bulk` or `junk` (older responders and list software);
- a delivery status report (RFC 3464: `multipart/report; report-type=delivery-status`);
- an empty Return-Path `<>` (RFC 5321: the null reverse-path of bounces and notifications).
"""

MAX_LENGTH = 200
AUTOMATED_PRECEDENCE = ("auto_reply", "bulk", "junk")


def _value(inbound, name: str) -> str:
    """The header's value on one line, with nothing PostgreSQL or a page cannot hold (NUL and
    other control characters, the surrogate escapes of raw 8-bit bytes)."""
    value = inbound.get(name)
    if value is None:
        return ""
    return " ".join("".join(c if c.isprintable() else " " for c in str(value)).split())


def automated_marker(inbound) -> str:
    """The header that marks `inbound` (an email.message.Message) as automated, as
    "Name: value"; "" for mail a person wrote."""
    auto_submitted = _value(inbound, "Auto-Submitted")
    if auto_submitted and auto_submitted.split(";")[0].strip().lower() != "no":
        return f"Auto-Submitted: {auto_submitted}"[:MAX_LENGTH]
    for name in ("X-Autoreply", "X-Autorespond"):
        value = _value(inbound, name)
        if value and value.lower() not in ("no", "false", "0"):
            return f"{name}: {value}"[:MAX_LENGTH]
    precedence = _value(inbound, "Precedence")
    if precedence.lower() in AUTOMATED_PRECEDENCE:
        return f"Precedence: {precedence}"[:MAX_LENGTH]
    if inbound.get_content_type() == "multipart/report":
        report_type = str(inbound.get_param("report-type", "") or "").lower()
        if report_type == "delivery-status":
            return "Content-Type: multipart/report; report-type=delivery-status"
    # The envelope sender as the ESP saw it (Anymail: Postmark's first Return-Path, "" for
    # `<>`); a Return-Path inside the message only when the ESP does not say.
    envelope_sender = getattr(inbound, "envelope_sender", None)
    if envelope_sender is not None:
        if str(envelope_sender).strip().strip("<>").strip() == "":
            return "Return-Path: <>"
        return ""
    return_paths = [str(v).strip() for v in inbound.get_all("Return-Path") or []]
    if return_paths and all(v.replace(" ", "") == "<>" for v in return_paths):
        return "Return-Path: <>"
    return ""
