package dev.ambientj.cni.install;

import java.io.IOException;
import java.nio.file.Path;

/**
 * The node's CNI configuration (or the plugin executable) cannot be installed or removed; the
 * message starts with the file or directory at fault and says what was expected.
 */
public final class CniConfException extends IOException {
  private static final long serialVersionUID = 1L;

  private final transient Path file;

  CniConfException(Path file, String what) {
    this(file, what, null);
  }

  CniConfException(Path file, String what, Throwable cause) {
    super(file + ": " + what, cause);
    this.file = file;
  }

  /** The file or directory the message is about. */
  public Path file() {
    return file;
  }
}
