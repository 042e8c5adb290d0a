/**
 * HBONE: TCP connections carried as HTTP/2 CONNECT streams over mutual TLS (port 15008), as Istio's
 * ambient data plane does.
 *
 * <h2>Pieces</h2>
 *
 * <ul>
 *   <li>{@link dev.ambientj.hbone.HboneServer} — terminates HBONE on a socket the caller binds;
 *       each CONNECT reaches a {@link dev.ambientj.hbone.ConnectRequestHandler} as a typed
 *       {@link dev.ambientj.hbone.ConnectRequest} answered through a
 *       {@link dev.ambientj.hbone.ConnectResponder} (200 + tunnel, or 400/401/503).
 *   <li>{@link dev.ambientj.hbone.HboneClient} — opens CONNECT streams over pooled connections
 *       keyed by (source identity, expected peer identities, next hop).
 *   <li>{@link dev.ambientj.hbone.Relay} — copies bytes between any two channels with
 *       backpressure, half-close and reset propagation ({@link dev.ambientj.hbone.Relay#holdInbound}
 *       keeps what an accepted socket receives until then); {@link dev.ambientj.hbone.TunnelChannels}
 *       makes a tunnel and a TCP socket look alike.
 * </ul>
 *
 * <h2>The tunnel channel</h2>
 *
 * A tunnel is the HTTP/2 stream's child channel with a codec installed: inbound messages are
 * {@code ByteBuf}s (the receiver releases them), {@code ByteBuf} writes become DATA frames (the
 * channel releases them), END_STREAM in is {@code ChannelInputShutdownEvent} +
 * {@code ChannelInputShutdownReadComplete}, END_STREAM out is
 * {@link dev.ambientj.hbone.TunnelChannels#shutdownOutput}, RST_STREAM in is an
 * {@link dev.ambientj.hbone.HboneException} ({@code STREAM_RESET}) through
 * {@code exceptionCaught}, and closing an open tunnel sends RST_STREAM(CANCEL). A tunnel is
 * handed out with auto-read off; nothing is lost until the caller turns it on.
 *
 * <h2>Flow control</h2>
 *
 * Both sides advertise a 4 MiB stream window and 1 MiB frames, and grow the connection window to
 * 16 MiB with a WINDOW_UPDATE on stream 0. A stream returns window when a frame is read into its
 * pipeline, which the relay stops doing while the other side is not writable — so a slow
 * consumer closes the sender's window instead of filling memory.
 *
 * <h2>Identity</h2>
 *
 * The peer's SPIFFE id always comes from its verified certificate (URI SAN), never from a header;
 * see {@link dev.ambientj.hbone.TunnelChannels#peerIdentity} and
 * {@link dev.ambientj.hbone.ConnectRequest#peerIdentity()}.
 */
package dev.ambientj.hbone;
