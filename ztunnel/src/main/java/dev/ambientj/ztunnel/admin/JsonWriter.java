package dev.ambientj.ztunnel.admin;

import dev.ambientj.ztunnel.telemetry.Json;
import java.util.ArrayDeque;
import java.util.Deque;

/** A small streaming JSON writer for admin output (pretty-printed, two-space indent). */
public final class JsonWriter {
  private final StringBuilder out = new StringBuilder(4096);
  private final Deque<Boolean> first = new ArrayDeque<>();
  private boolean afterName;

  public JsonWriter beginObject() {
    value();
    out.append('{');
    first.push(true);
    return this;
  }

  public JsonWriter endObject() {
    boolean empty = first.pop();
    if (!empty) {
      newline();
    }
    out.append('}');
    return this;
  }

  public JsonWriter beginArray() {
    value();
    out.append('[');
    first.push(true);
    return this;
  }

  public JsonWriter endArray() {
    boolean empty = first.pop();
    if (!empty) {
      newline();
    }
    out.append(']');
    return this;
  }

  public JsonWriter name(String name) {
    separator();
    Json.string(out, name).append(": ");
    afterName = true;
    return this;
  }

  public JsonWriter value(String s) {
    value();
    if (s == null) {
      out.append("null");
    } else {
      Json.string(out, s);
    }
    return this;
  }

  public JsonWriter value(long n) {
    value();
    out.append(n);
    return this;
  }

  public JsonWriter value(boolean b) {
    value();
    out.append(b);
    return this;
  }

  public JsonWriter field(String name, String value) {
    return name(name).value(value);
  }

  public JsonWriter field(String name, long value) {
    return name(name).value(value);
  }

  public JsonWriter field(String name, boolean value) {
    return name(name).value(value);
  }

  private void value() {
    if (afterName) {
      afterName = false;
      return;
    }
    if (!first.isEmpty()) {
      separator();
    }
  }

  private void separator() {
    if (first.isEmpty()) {
      return;
    }
    if (!first.peek()) {
      out.append(',');
    }
    first.pop();
    first.push(false);
    newline();
  }

  private void newline() {
    out.append('\n');
    out.append("  ".repeat(first.size()));
  }

  @Override
  public String toString() {
    return out.toString();
  }
}
