// A line server on framing's Listener alone: each line is a request id, each answer one line of
// JSON. It shows the harness end to end without a protocol package: the Listener reads the PROXY
// header and hands over the client it names.
import { EventEmitter } from 'node:events'
import { FramedConnection, LineDecoder, Listener, encodeLine } from '@proto/framing'
import { answer, run } from './kit.mjs'

class LineServer extends EventEmitter {
  #connections = new Set()
  #closing = false
  #listener = new Listener({
    defaults: { port: 0 },
    onConnection: (socket, remote) => void this.#serve(socket, remote),
    onClientError: (err) => this.emit('clientError', err),
    onAcceptError: (err) => this.emit('clientError', err),
  })

  listen(options) {
    return this.#listener.listen(options)
  }

  /** Stops accepting, ends each idle connection, lets a busy one answer first; resolves when all are gone. */
  async close() {
    this.#closing = true
    await this.#listener.close()
    for (const entry of this.#connections) if (!entry.busy) void entry.conn.end()
    await Promise.all([...this.#connections].map((entry) => entry.conn.closed))
  }

  async #serve(socket, remote) {
    const conn = new FramedConnection(socket, { decoder: new LineDecoder() })
    const entry = { conn, busy: false }
    this.#connections.add(entry)
    try {
      for await (const line of conn.frames()) {
        if (this.#closing) break
        entry.busy = true
        const reply = await answer(line.toString('utf8'), remote)
        await conn.write(encodeLine(JSON.stringify(reply)))
        entry.busy = false
        if (this.#closing) break
      }
      await conn.end()
    } catch {
      conn.destroy()
    } finally {
      this.#connections.delete(entry)
    }
  }
}

await run(new LineServer())
