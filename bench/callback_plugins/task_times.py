# Per-task wall-clock times of an ansible-playbook run, for the benchmark
# (bench/cloud-deploy.ts): like ansible.posix's profile_tasks, which this
# machine's ansible-core does not ship. Enabled only by the benchmark, through
# ANSIBLE_CALLBACK_PLUGINS=bench/callback_plugins ANSIBLE_CALLBACKS_ENABLED=task_times;
# writes one JSON object per task (play, task, role, seconds) to the file in
# ARGOS_TASK_TIMES, appending, so several runs of one deploy add up.
from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = '''
    name: task_times
    type: aggregate
    short_description: writes each task's wall-clock time to $ARGOS_TASK_TIMES (JSON lines)
    description: used by argos's benchmark only
    requirements:
      - enabled in ANSIBLE_CALLBACKS_ENABLED
'''


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'task_times'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._path = os.environ.get('ARGOS_TASK_TIMES')
        self._play = ''
        self._current = None
        self._records = []

    def _close(self):
        if self._current is not None:
            name, role, started = self._current
            self._records.append({'play': self._play, 'task': name, 'role': role, 'seconds': round(time.monotonic() - started, 3)})
            self._current = None

    def _start(self, task):
        self._close()
        role = task._role.get_name() if getattr(task, '_role', None) else ''
        self._current = (task.get_name(), role, time.monotonic())

    def v2_playbook_on_play_start(self, play):
        self._close()
        self._play = play.get_name()

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._start(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._start(task)

    def v2_playbook_on_stats(self, stats):
        self._close()
        if not self._path:
            return
        with open(self._path, 'a', encoding='utf-8') as out:
            for record in self._records:
                out.write(json.dumps(record) + '\n')
