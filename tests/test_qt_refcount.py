"""The Qt binding must not eat Python's None (PySide6 6.12.0 on Python 3.11 did: one reference per
Qt call returning nothing, until the interpreter aborted with 'none_dealloc')."""

import sys

from PySide6.QtWidgets import QLabel


def test_qt_calls_leave_none_s_references_alone(qtbot):
    label = QLabel()
    qtbot.addWidget(label)
    before = sys.getrefcount(None)
    for i in range(2000):
        label.setText(str(i))
        label.setToolTip("tip")
        label.setObjectName("name")
    assert sys.getrefcount(None) >= before - 100  # 6.12.0 on Python 3.11: 6000 fewer
