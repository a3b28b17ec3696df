"""One router per group of routes; `application.create_app` includes them all."""
