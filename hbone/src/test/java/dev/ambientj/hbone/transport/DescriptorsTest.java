package dev.ambientj.hbone.transport;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DescriptorsTest {

  @Test
  void theSoftLimitIsReadFromProcLimits(@TempDir Path dir) throws Exception {
    Path limits = Files.writeString(dir.resolve("limits"), """
        Limit                     Soft Limit           Hard Limit           Units
        Max cpu time              unlimited            unlimited            seconds
        Max open files            1024                 524288               files
        Max locked memory         8388608              8388608              bytes
        """);
    assertThat(Descriptors.limitFromProc(limits)).isEqualTo(1024);
  }

  @Test
  void unreadableLimitsAreUnknown(@TempDir Path dir) {
    assertThat(Descriptors.limitFromProc(dir.resolve("missing"))).isEqualTo(-1);
  }

  @Test
  void thisProcessHasALimit() {
    assertThat(Descriptors.limit()).isPositive();
  }
}
