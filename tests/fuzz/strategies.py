"""Hostile values for form fields, JSON bodies and tokens."""

from hypothesis import strategies as st

TWILIO_FIELDS = (
    "MessageSid",
    "AccountSid",
    "From",
    "To",
    "Body",
    "NumMedia",
    "MessageStatus",
    "ErrorCode",
    "SmsSid",
    "MediaUrl0",
)

hostile_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=200),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "+",
            "+15005550006",
            "+14155550101",
            "STOP",
            "start",
            "SM" + "a" * 32,
            "SM" + "a" * 65,
            "x" * 5000,
            "' OR 1=1 --",
            "<script>alert(1)</script>",
            "%00",
            "\u202e",
            "🙂" * 300,
            "whatsapp:+14155550101",
            "delivered",
            "sent",
            "failed",
            "1e309",
            "-1",
            "9" * 40,
        ]
    ),
)

form_fields = st.dictionaries(
    st.one_of(st.sampled_from(TWILIO_FIELDS), st.text(min_size=1, max_size=20)),
    hostile_text,
    max_size=12,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | hostile_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
