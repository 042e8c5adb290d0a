package dev.ambientj.launcher;

public final class Main {
  public static void main(String[] args) {
    System.out.println("ambientj");
  }
}
