package dev.ambientj.hbone;

/** Which TLS implementation to use; {@link #AUTO} prefers BoringSSL (netty-tcnative) when it loads. */
public enum TlsProvider {
  AUTO, BORINGSSL, JDK
}
