"""State carried from one bounded read to the next (the local catch-up loop). Pure.

``fold``: one log stream's fold; ``windows``: one metric window's figures. The Beam shells
that continue them inside a read are ``pipeline.transforms.resume_fold`` and ``carry_windows``.
"""
