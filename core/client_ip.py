"""The address a request comes from, for the admin login's lock-out (django-axes).

By default the connection's own address: a header is a client's word, and trusting one lets a
guesser pick a new address per guess. Behind a proxy, ``AXES_CLIENT_IP_HEADER`` names the
header the proxy sets (``X-Forwarded-For``, ``X-Real-IP``) and ``AXES_TRUSTED_PROXY_COUNT`` how
many proxies append to it: the client is that many entries from the right, the part no client
can forge. A header missing, too short or not an address falls back to the connection's.
"""

import ipaddress

from django.conf import settings


def client_ip(request) -> str:
    header = settings.AXES_CLIENT_IP_HEADER
    if header:
        hops = [hop.strip() for hop in request.headers.get(header, "").split(",") if hop.strip()]
        count = max(settings.AXES_TRUSTED_PROXY_COUNT, 1)
        if len(hops) >= count:
            try:
                return str(ipaddress.ip_address(hops[-count]))
            except ValueError:
                pass
    return request.META.get("REMOTE_ADDR", "")
