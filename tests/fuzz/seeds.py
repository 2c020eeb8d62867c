#!/usr/bin/python3
"""seeds.py: writes the seed corpus of the fuzz targets (tests/fuzz/corpus/),
valid and almost-valid inputs from docs/protocol.md, for libFuzzer to mutate
and for the replay tests to run.  Run it again after a protocol change."""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
T = dict(HELLO=0x01, OPEN=0x10, CANCEL=0x16, SIGNAL=0x17, RESIZE=0x19, HELLO_ACK=0x02, PING=0x03, DATA=0x11, EOF=0x12, WINDOW=0x13, RESULT=0x14, ERROR=0x15,
         INFO=0x18)
F = dict(EXIT_CODE=0x20, EXIT_SIGNAL=0x21, TIMED_OUT=0x22, SIZE=0x23, DURATION_US=0x24,
         NAME=0x30, FTYPE=0x31, MTIME_NS=0x32, LINK_TARGET=0x33, MODE=0x19, SESSION=0x50, PID=0x51,
         RUNNING=0x52, STARTED_MS=0x53, REPLAY_END=0x54, COLS=0x55, ROWS=0x56, SKIPPED=0x57,
         ERRCODE=0x40, MESSAGE=0x41, COMMAND=0x12, VERSION_MIN=0x01, VERSION_MAX=0x02,
         TIME_NS=0x04, ENTROPY=0x07, NONCE=0x08, HOSTNAME=0x09, OP=0x10, ARG=0x11, ENV=0x13,
         STDIN=0x16, PATH=0x17, SIGNAL_NO=0x1c)


def field(tag, value):
    if isinstance(value, str):
        value = value.encode()
    return struct.pack('<HI', tag, len(value)) + value


def u8(tag, v): return field(tag, struct.pack('<B', v))
def u32(tag, v): return field(tag, struct.pack('<I', v))
def i32(tag, v): return field(tag, struct.pack('<i', v))
def u64(tag, v): return field(tag, struct.pack('<Q', v))


def frame(kind, payload=b'', chan=0, stream=1, length=None):
    n = len(payload) if length is None else length
    return struct.pack('<HBBII', 0x434f, T[kind], chan, stream, n) + payload


def record(*fields):
    body = b''.join(fields)
    return struct.pack('<I', len(body)) + body


exit_ok = frame('RESULT', i32(F['EXIT_CODE'], 0) + u64(F['DURATION_US'], 1234))
entry = record(field(F['NAME'], 'a'), u8(F['FTYPE'], 1), u64(F['SIZE'], 3), u32(F['MODE'], 0o644),
               u64(F['MTIME_NS'], 10**18))
session = record(u32(F['SESSION'], 1), u32(F['PID'], 10), u8(F['RUNNING'], 1),
                 u64(F['STARTED_MS'], 10**12), field(F['COMMAND'], 'sleep 9'))
SEEDS = {
    'exec-ok': b'\0' + frame('DATA', b'hello\n', chan=1) + frame('EOF', chan=1) +
    frame('EOF', chan=2) + exit_ok,
    'exec-signal': b'\0' + frame('RESULT', i32(F['EXIT_CODE'], -1) + u32(F['EXIT_SIGNAL'], 9)),
    'read-ok': b'\1' + frame('INFO', u64(F['SIZE'], 5)) + frame('DATA', b'abcde', chan=1) +
    frame('EOF', chan=1) + frame('RESULT', u64(F['SIZE'], 5)),
    'read-short': b'\1' + frame('INFO', u64(F['SIZE'], 9)) + frame('DATA', b'abc', chan=1) +
    frame('RESULT', u64(F['SIZE'], 9)),
    'list-ok': b'\2' + frame('DATA', entry * 3, chan=1) + frame('EOF', chan=1) + frame('RESULT'),
    'list-split': b'\2' + frame('DATA', entry[:7], chan=1) + frame('DATA', entry[7:], chan=1) +
    frame('EOF', chan=1) + frame('RESULT'),
    'stat-ok': b'\3' + frame('DATA', entry, chan=1) + frame('EOF', chan=1) + frame('RESULT'),
    'sessions-ok': b'\4' + frame('DATA', session * 2, chan=1) + frame('EOF', chan=1) +
    frame('RESULT'),
    'attach-ok': b'\5' + frame('INFO', u32(F['COLS'], 80) + u32(F['ROWS'], 24)) +
    frame('DATA', b'scrollback', chan=1) + frame('INFO', u8(F['REPLAY_END'], 1)) +
    frame('INFO', u64(F['SKIPPED'], 4096), chan=1) + frame('DATA', b'live', chan=1) + exit_ok,
    'error-noent': b'\1' + frame('ERROR', u32(F['ERRCODE'], 3) + field(F['MESSAGE'], 'no such')),
    'header-4gib': b'\0' + frame('DATA', chan=1, length=0xffffffff),
    'unknown-stream': b'\0' + frame('DATA', b'x', chan=1, stream=99) + exit_ok,
    'window-flood': b'\5' + frame('WINDOW', struct.pack('<I', 0xffffffff), chan=0) * 4,
    'garbage': b'\2' + bytes(range(256)),
    'ping': b'\0' + frame('PING', b'12345678', stream=0) + exit_ok,
}


hello = frame('HELLO', u32(F['VERSION_MIN'], 1) + u32(F['VERSION_MAX'], 2) +
              u64(F['NONCE'], 42) + u64(F['TIME_NS'], 10**18) + field(F['ENTROPY'], b'e' * 32) +
              field(F['HOSTNAME'], 'sb-000000000001'), stream=0)
exec_open = frame('OPEN', u32(F['OP'], 1) + field(F['ARG'], 'cat') + field(F['ENV'], 'A=b') +
                  u8(F['STDIN'], 1))
AGENT_SEEDS = {
    'hello': hello,
    'exec-stdin': hello + exec_open + frame('DATA', b'input', chan=0) + frame('EOF', chan=0) +
    frame('WINDOW', struct.pack('<I', 4096), chan=1) + frame('SIGNAL', u32(F['SIGNAL_NO'], 15)) +
    frame('CANCEL'),
    'attach-resize': hello + frame('OPEN', u32(F['OP'], 10) + u32(F['SESSION'], 1)) +
    frame('RESIZE', u32(F['COLS'], 100) + u32(F['ROWS'], 30)) + frame('CANCEL'),
    'files-refused': hello + frame('OPEN', u32(F['OP'], 2) + field(F['PATH'], '/etc/x')) +
    frame('OPEN', u32(F['OP'], 3) + field(F['PATH'], '/tmp/y'), stream=3) +
    frame('DATA', b'abc', stream=3) + frame('EOF', stream=3),
    'many-streams': hello + b''.join(frame('OPEN', u32(F['OP'], 1) + field(F['ARG'], 'true'),
                                           stream=2 * i + 1) for i in range(300)),
    'resync': b'junk' + hello + b'\x4f\x43\x10' + hello + frame('PING', b'p', stream=0),
    'bad-ops': hello + frame('OPEN', u32(F['OP'], 99)) + frame('OPEN', b'\x10', stream=3) +
    frame('OPEN', u32(F['OP'], 1), stream=2) + frame('DATA', b'x', stream=77),
    'huge-header': hello + frame('DATA', stream=1, length=0xfffffff0),
}

# The first byte picks the parser (fuzz-agent-requests.c): 0 EXEC, 4
# SESSION_START, 1 + 4k the file operation's fields k, 2 (6 with SIGNAL)
# a session reference, 3 RESIZE fields.
F.update(CWD=0x14, TIMEOUT_MS=0x15, NEW_PATH=0x18, PARENTS=0x1a, RECURSIVE=0x1b, USER=0x1d)
REQUEST_SEEDS = {
    'exec-argv': b'\0' + u32(F['OP'], 1) + field(F['ARG'], '/bin/echo') + field(F['ARG'], 'hi') +
    field(F['ENV'], 'A=b') + field(F['CWD'], '/tmp') + u32(F['TIMEOUT_MS'], 1000) + u8(F['STDIN'], 1),
    'exec-simple': b'\0' + field(F['COMMAND'], 'ls -la /tmp'),
    'exec-user': b'\0' + field(F['ARG'], 'id') + field(F['USER'], 'builder:staff'),
    'exec-user-twice': b'\0' + field(F['ARG'], 'id') + field(F['USER'], 'a') + field(F['USER'], 'b'),
    'session-user-empty': b'\4' + field(F['COMMAND'], 'id') + field(F['USER'], ''),
    'exec-shell': b'\0' + field(F['COMMAND'], 'echo "$HOME" | wc -c; cd /'),
    'exec-builtin': b'\0' + field(F['COMMAND'], 'export A=1'),
    'exec-both': b'\0' + field(F['COMMAND'], 'ls') + field(F['ARG'], 'ls'),
    'exec-env-bad': b'\0' + field(F['ARG'], 'x') + field(F['ENV'], 'noequals'),
    'exec-nul': b'\0' + field(F['ARG'], 'a\0b'),
    'exec-many-args': b'\0' + field(F['ARG'], 'x') * 5000,
    'session-pty': b'\4' + field(F['COMMAND'], 'bash') + u32(F['COLS'], 80) + u32(F['ROWS'], 24),
    'session-pty-half': b'\4' + field(F['COMMAND'], 'bash') + u32(F['COLS'], 80),
    'exec-pty-refused': b'\0' + field(F['COMMAND'], 'bash') + u32(F['COLS'], 80) + u32(F['ROWS'], 24),
    'file-read': b'\1' + u32(F['OP'], 2) + field(F['PATH'], '/etc/hostname'),
    'file-write-mode': b'\5' + field(F['PATH'], '/tmp/x') + u32(F['MODE'], 0o600),
    'file-mkdir': b'\x09' + field(F['PATH'], '/a/b') + u8(F['PARENTS'], 1) + u32(F['MODE'], 0o755),
    'file-remove': b'\x0d' + field(F['PATH'], '/tmp/d') + u8(F['RECURSIVE'], 1),
    'file-rename': b'\x11' + field(F['PATH'], '/a') + field(F['NEW_PATH'], '/b'),
    'file-long-path': b'\1' + field(F['PATH'], 'a' * 5000),
    'file-unknown': b'\1' + field(F['PATH'], '/a') + u32(0x99, 1),
    'session-kill': b'\6' + u32(F['SESSION'], 3) + u32(F['SIGNAL_NO'], 9),
    'session-zero': b'\2' + u32(F['SESSION'], 0),
    'resize': b'\3' + u32(F['COLS'], 100) + u32(F['ROWS'], 5000),
    'truncated': b'\0' + field(F['ARG'], 'abc')[:-1],
}

DOCKERFILES = {
    'full': '# syntax=x\nARG PY=python3\nFROM base\nRUN apt-get update && \\\n    apt-get install -y jq\n'
            'COPY --chown=a:b --chmod=0644 ["a b", "/x"]\nENV X=1 Y="two words" Z=${PY:-n}\n'
            'ENV OLD long value\nWORKDIR /app\nWORKDIR rel\nUSER app:app\nRUN ["env", "$PY"]\n',
    'errors': 'FROM base\nCMD x\n',
    'quotes': "FROM base\nENV A='$B' B=\"\\\"q\\$\" C=\\x${A:+y}\n",
    'continuation-eof': 'FROM base\nRUN echo \\\n',
    'crlf': 'FROM base\r\nRUN true\r\n',
}

HTTP_REQUESTS = {
    'create': 'POST /api/sandboxes\n{"templateID":"base","timeout":600,"envs":{"A":"b"},'
              '"metadata":{"k":"v"},"cpuCount":2,"memoryMB":1024}',
    'create-bad': 'POST /api/sandboxes\n{"templateID":"../../etc","timeout":"x"}',
    'exec': 'POST /api/sandboxes/sb-0123456789ab/exec/run-async\n{"cmd":"ls","args":["-l"],'
            '"envs":{"X":"1"},"cwd":"/tmp","timeout":5}',
    'result': 'GET /api/sandboxes/sb-0123456789ab/exec/7/result\n',
    'files': 'GET /api/sandboxes/sb-0123456789ab/files?path=/etc/hostname\n',
    'files-list': 'GET /api/sandboxes/sb-0123456789ab/files/list?path=/\n',
    'pty-ws': 'GET /api/sandboxes/sb-0123456789ab/pty/3\n',
    'checkpoint': 'POST /api/sandboxes/sb-0123456789ab/checkpoints\n{"name":"c"}',
    'from-checkpoint': 'POST /api/sandboxes/from-checkpoint/cp-0123456789ab\n{"timeout":60}',
    'dotdot': 'GET /api/sandboxes/../files\n',
    'wrong-method': 'PATCH /api/sandboxes\n[]',
    'deep-json': 'POST /api/sandboxes\n' + '[' * 2000,
}


def save_image(xml, cookie, pad=64):
    data = xml.encode() + b'\0' + (cookie.encode() + b'\0' if cookie else b'') + b'\0' * pad
    head = b'LibvirtQemudSave' + struct.pack('<5I', 2, len(data), 1, 0,
                                             len(xml) + 1 if cookie else 0) + b'\0' * 56
    return head + data + b'QEVM\0\0\0\3'


IMAGES = {
    'ok': save_image("<domain type='qemu'><name>sb-1</name></domain>", '<qemu-migration/>'),
    'no-cookie': save_image('<domain/>', None),
    'partial': b'LibvirtQemudPart' + b'\0' * 80,
    'compressed': save_image('<domain/>', None)[:28] + struct.pack('<I', 5) +
    save_image('<domain/>', None)[32:],
}


def write_corpus(target, seeds):
    """Writes each seed (bytes, or text as UTF-8) to corpus/TARGET/NAME."""
    d = os.path.join(HERE, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, name), 'wb') as f:
            f.write(data.encode() if isinstance(data, str) else data)


def main():
    write_corpus('host-conn', SEEDS)
    write_corpus('agent-frames', AGENT_SEEDS)
    write_corpus('agent-requests', REQUEST_SEEDS)
    write_corpus('dockerfile', DOCKERFILES)
    write_corpus('http-request', HTTP_REQUESTS)
    write_corpus('saveimage', IMAGES)
    return 0


if __name__ == '__main__':
    sys.exit(main())
