package dev.ambientj.hbone;

/** Called once when a {@link Relay} has finished and both of its channels are closed. */
@FunctionalInterface
public interface RelayListener {

  /**
   * @param bytesAtoB bytes read from {@code a} and written to {@code b}
   * @param bytesBtoA bytes read from {@code b} and written to {@code a}
   * @param cause the first error (reset, I/O error), or null when both directions ended cleanly
   */
  void onClose(long bytesAtoB, long bytesBtoA, Throwable cause);
}
