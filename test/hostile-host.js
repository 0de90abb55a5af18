// A model host that answers as a compromised one could (test/95): it loads nothing, and
// replies to the first run with the message TFSLICE_TEST_HOSTILE names. The parent must
// fail that model with MODEL_CRASHED, kill this process, and touch nothing else.
'use strict';

const fs = require('node:fs');
const { Socket } = require('node:net');
const os = require('node:os');
const path = require('node:path');

const dist = path.join(__dirname, '..', 'dist');
const { native } = require(path.join(dist, 'native.js'));
const { sendFrame } = require(path.join(dist, 'ipc.js'));

const mode = process.env.TFSLICE_TEST_HOSTILE;
const socket = new Socket({ fd: 3, readable: true, writable: true });

function raw(bytes) {
  socket.write(bytes);
}

socket.once('data', (chunk) => {
  const load = JSON.parse(chunk.toString('utf8', 4, 4 + chunk.readUInt32LE(0)));
  if (mode === 'bad-json') return raw(Buffer.concat([Buffer.from([5, 0, 0, 0]), Buffer.from('{nope')]));
  if (mode === 'huge-frame') return raw(Buffer.from([0xf0, 0xff, 0xff, 0xff, 1, 2, 3]));
  if (mode === 'not-an-object') return raw(Buffer.concat([Buffer.from([2, 0, 0, 0]), Buffer.from('42')]));
  sendFrame(socket, {
    op: 'loaded', id: load.id, pid: process.pid, signatures: {}, defaultSignature: null, devices: [], config: {}, tensorflowVersion: 'hostile',
  });
});

const inbox = new ArrayBuffer(65536);
const outbox = new ArrayBuffer(65536);
const out = new DataView(outbox);
const channel = new (native().Channel)(4, inbox, outbox, () => {
  const id = new DataView(inbox).getUint32(0, true);
  let at = 0;
  const u32 = (v) => { out.setUint32(at, v, true); at += 4; };
  const i32 = (v) => { out.setInt32(at, v, true); at += 4; };
  const f64 = (v) => { out.setFloat64(at, v, true); at += 8; };
  u32(id);
  switch (mode) {
    case 'short-reply':
      at = 6;
      break;
    case 'absurd-count':
      u32(0); u32(0); u32(1); u32(1e9); // done, flags, run µs, outputs
      break;
    case 'unknown-status':
      u32(7);
      break;
    case 'bad-output': // 1000 float32 elements in 4 bytes
      u32(0); u32(0); u32(1); u32(1); i32(1); u32(1); f64(0); f64(4); f64(1000);
      break;
    case 'outside-segment':
      u32(0); u32(0); u32(1); u32(1); i32(1); u32(1); f64(1 << 30); f64(4); f64(1);
      break;
    case 'foreign-segment': // "moved" to the parent's own stdout
      u32(0); u32(1); u32(1); i32(process.ppid); i32(1); f64(65536); u32(0);
      break;
    case 'unsealed-segment': { // "moved" to a plain file of ours, which the host could truncate
      const file = path.join(os.tmpdir(), `tfslice-hostile-${process.pid}`);
      fs.writeFileSync(file, Buffer.alloc(1 << 20));
      const fd = fs.openSync(file, 'r+');
      fs.rmSync(file);
      u32(0); u32(1); u32(1); i32(process.pid); i32(fd); f64(1 << 20); u32(0);
      break;
    }
    default:
      throw new Error(`unknown TFSLICE_TEST_HOSTILE ${mode}`);
  }
  channel.send(at, 0);
});
socket.on('close', () => process.exit(0));
