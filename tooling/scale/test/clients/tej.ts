// tej's client: a connection from the given local address; a frame with the id as its message,
// and the answer in the message of the frame that comes back.
import { connect } from '@proto/tej'
import type { Answer, ScaleProtocol } from '../protocol.ts'
import { connectedSocket, localEnd } from '../protocol.ts'

export const tej: ScaleProtocol = {
  name: 'tej',
  backend: 'tej.mjs',
  mode: 'tcp',
  async connect(port, localAddress) {
    const socket = await connectedSocket(port, localAddress)
    const local = localEnd(socket)
    const client = await connect({ socket })
    const frames = client[Symbol.asyncIterator]()
    return {
      async request(id) {
        await client.send({ message: id })
        const next = await frames.next()
        if (next.done === true) throw new Error(`the connection closed before ${id} was answered`)
        const message = Buffer.from(await next.value.message()).toString('utf8')
        return { answer: JSON.parse(message) as Answer, local }
      },
      close: () => client.close(),
    }
  },
}
