"""The model manager: see which model files are installed, accept the licences, download
(pause, cancel, resume), convert into the app's bundle, verify, repair, free the sources.

All store work runs on one ``StoreWorker`` (a QObject on its own QThread); the GUI thread
only sends ``Job`` records by a queued signal and gets frozen records back. One job per module:

``jobs``            the records that cross between the threads (Job, StoreSnapshot, VerifyReport, JobOutcome)
``store_worker``    ``StoreWorker``: refresh, download + convert, verify, repair, free (worker thread)
``dialog``          ``ModelManagerDialog``: starts jobs, enables buttons, routes the worker's reports
``file_tree``       the per-model / per-file tree and what its rows show
``licence_panel``   the "I accept" boxes that gate every download
``progress_panel``  the file and overall progress bars
``status_text``     the summary line and progress wording (Qt-free)
"""

from mgie_desktop.ui.model_manager.dialog import ModelManagerDialog
from mgie_desktop.ui.model_manager.jobs import JobOutcome, StoreSnapshot, VerifyReport
from mgie_desktop.ui.model_manager.store_worker import StoreWorker

__all__ = ["JobOutcome", "ModelManagerDialog", "StoreSnapshot", "StoreWorker", "VerifyReport"]
