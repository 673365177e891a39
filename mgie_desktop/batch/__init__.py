"""``mgie-desktop batch``: one recipe (core/recipe.py) over a folder of photos, on this machine
(``local``) or on a Ray cluster (``on_ray``). Both edit a photo the same way (``photo``), keep the
same results file and skip what it says is done (``results``).

The parts: ``folder`` (which photos, and each one's output name), ``photo`` (edit and save one
photo), ``results`` (the resumable results file), ``progress`` (the progress line), ``failure``
(a photo's failure in one line, Ray's wrappers off), ``space`` (a full disk under the outputs
stops the batch), ``local`` and ``on_ray`` (the two runners), ``watch`` (``--watch``: a watched
folder, each photo edited once complete), ``command`` (the CLI's ``batch`` and ``recipe export``).
Reviewing a batch: ``overview`` (each photo's before, after and status, from a run or an
OUTPUT_DIR), ``thumbnails`` (small upright sRGB copies, decoded at reduced size),
``contact_sheet`` (the printable pages of ``--contact-sheet``), ``review`` (review.json: decisions
and the re-renders the next run makes), ``approved`` (exporting the approved outputs).
"""
