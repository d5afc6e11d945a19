"""Test harness: marked media and a recorder that measures sync from the outputs alone.

The implementation is :mod:`avsync.testing` (the benchmarks use it too)."""

from avsync.testing import HEIGHT as HEIGHT
from avsync.testing import MARK_MODULUS as MARK_MODULUS
from avsync.testing import RATE as RATE
from avsync.testing import WIDTH as WIDTH
from avsync.testing import AudioRecord as AudioRecord
from avsync.testing import Recorder as Recorder
from avsync.testing import VideoRecord as VideoRecord
from avsync.testing import config as config
from avsync.testing import marked_frame as marked_frame
from avsync.testing import read_mark as read_mark
from avsync.testing import recording as recording
from avsync.testing import speech as speech
