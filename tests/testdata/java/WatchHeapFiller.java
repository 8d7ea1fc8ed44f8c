import java.util.ArrayList;
import java.util.List;

// Allocates until the heap is full, so that a JVM started with
// -XX:+HeapDumpOnOutOfMemoryError writes a heap dump.
public class WatchHeapFiller {
    public static void main(String[] args) {
        List<long[]> keep = new ArrayList<>();
        System.out.println("filling the heap");
        while (true) {
            keep.add(new long[64 * 1024]);
        }
    }
}
