from django import template

from apps.core.extensions import render_panels

register = template.Library()


@register.simple_tag(takes_context=True)
def panels(context, slot, **objects):
    """`{% panels "prospect.detail" prospect=prospect %}`: what other apps add to this page."""
    return render_panels(slot, context["request"], **objects)
