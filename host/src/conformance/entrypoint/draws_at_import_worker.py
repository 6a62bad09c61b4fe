"""The conformance suites' reference worker `draws-at-import`: it draws from `random` while its module is
imported, which every instance restored from its dedicated snapshot would share, so `prepare(dedicated)` must
refuse it."""

import random

from workers import Response

TOKEN = random.getrandbits(64)


def on_fetch(request):
    return Response(str(TOKEN))
