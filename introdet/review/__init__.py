"""Review predicted intros and label episodes in the browser: ``python -m introdet.review``.

``library`` lists the episodes, their prediction records and how doubtful each is; ``labels``
edits a labels file in place; ``frames`` decides what the browser can play and decodes frames
for what it cannot; ``app`` is the Starlette app; ``__main__`` the command that serves it.
"""
