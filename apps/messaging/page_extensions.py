"""What this app adds to other apps' pages, through apps.core.extensions: the prospect page of
the sequences app lists the prospect's conversations, yet the sequences app never imports this
one (the arrow points from messaging to sequences)."""

from django.template.loader import render_to_string

from apps.core.extensions import panel

from .selectors import thread_list


@panel("prospect.conversations")
def prospect_conversations(request, *, prospect, **objects) -> str:
    threads = thread_list(team=request.team).filter(prospect=prospect)
    return render_to_string(
        "messaging/_prospect_conversations.html", {"threads": threads}, request=request
    )
