"""Attribution: which placements caused a redemption. ``engine`` holds the models (pure functions
over touches: last touch, first touch, linear, time decay, position based); ``credit`` runs them
over redemptions and writes the credits, idempotently, from the Celery tasks and the sweep."""
