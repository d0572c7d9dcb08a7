import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

django_application = get_wsgi_application()

from config.fastpath import FastPath  # noqa: E402  (after Django is set up)

application = FastPath(django_application)
