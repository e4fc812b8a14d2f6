import { connect, Socket } from 'node:net';

/**
 * One guest connection forwarded to the host's loopback. QEMU's user-mode network runs this
 * program for every connection the guest opens to 10.0.2.100:<port> (`guestfwd=...-cmd:`),
 * with the connection as its standard input and output; it connects to 127.0.0.1:<port> and
 * relays both ways. The host address is fixed: the guest reaches nothing but host loopback.
 */
const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  process.stderr.write('guestRelay: usage: guestRelay.js <port>\n');
  process.exit(2);
}
const guest = new Socket({ fd: 0, readable: true, writable: true });
const host = connect({ host: '127.0.0.1', port });
const end = (): void => {
  guest.destroy();
  host.destroy();
};
guest.on('error', end).on('close', end);
host.on('error', end).on('close', end);
guest.pipe(host);
host.pipe(guest);
