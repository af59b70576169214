package kos.rogue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.Cluster;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * A hostile consumer-group member for kos' security tests: a real Kafka 4.3.1 consumer
 * (group.protocol=classic) whose assignor hands out whatever partition lists it is told to,
 * including numbers no topic has (-2, 2^31-1, count + 1000), topics that do not exist and
 * duplicates. The broker passes such assignments on unchecked: to the members in SyncGroup and to
 * anyone calling DescribeConsumerGroups.
 *
 * <p>It only works as the group's leader (the member whose assignor runs), which in the classic
 * protocol is the first member to join: start it before anyone else joins the group.
 *
 * <p>stdout, one line per event: "leader generation N", "assigned T:P ..." (its own assignment,
 * as the broker delivered it), "committed T:P=O ok|error ...", "ready" (joined, own assignment
 * received). SIGTERM leaves the group and exits 0.
 */
public final class RogueMember {
    static final String USAGE = String.join("\n",
            "usage: kos.rogue.RogueMember --bootstrap B --group G --subscribe T[,T...] [options]",
            "  --protocol NAME    assignor (= protocol) name; the broker picks a name every member",
            "                     supports, so use the victim's (kos-processor: cooperative-sticky)",
            "  --cooperative      the assignor supports COOPERATIVE (default EAGER only)",
            "  --self LIST        partitions the leader assigns to itself",
            "  --others LIST      partitions the leader assigns to every other member",
            "  --commit LIST      T:P=O offsets to commit once assigned (results printed)",
            "  --commit-metadata S  the metadata string of those commits",
            "  -X key=value       any other consumer property",
            "LIST: T:P[,T:P...]; P may be negative or any int32; entries may repeat.");

    /** The lists the assignor hands out; set from the command line before the consumer starts. */
    static List<TopicPartition> selfParts = List.of();
    static List<TopicPartition> otherParts = List.of();
    static String protocolName = "rogue";
    static boolean cooperative;

    private RogueMember() {}

    /** Hands out the configured lists verbatim; which member is "self" is told by client.id. */
    public static final class Assignor implements ConsumerPartitionAssignor {
        static volatile String selfClientId;

        @Override
        public String name() {
            return protocolName;
        }

        @Override
        public List<RebalanceProtocol> supportedProtocols() {
            return cooperative ? List.of(RebalanceProtocol.COOPERATIVE, RebalanceProtocol.EAGER)
                               : List.of(RebalanceProtocol.EAGER);
        }

        @Override
        public GroupAssignment assign(Cluster metadata, GroupSubscription groupSubscription) {
            Map<String, Assignment> out = new HashMap<>();
            Map<String, Subscription> subs = groupSubscription.groupSubscription();
            // Our own member id is not known here; the user data we attach to our subscription is.
            for (Map.Entry<String, Subscription> e : subs.entrySet()) {
                boolean self = isSelf(e.getValue());
                out.put(e.getKey(), new Assignment(new ArrayList<>(self ? selfParts : otherParts)));
            }
            System.out.println("leader members " + subs.size());
            System.out.flush();
            return new GroupAssignment(out);
        }

        @Override
        public java.nio.ByteBuffer subscriptionUserData(java.util.Set<String> topics) {
            return java.nio.ByteBuffer.wrap(MARK);
        }

        @Override
        public void onAssignment(Assignment assignment, ConsumerGroupMetadata metadata) {
            System.out.println("generation " + metadata.generationId());
            System.out.flush();
        }

        static final byte[] MARK = "kos-rogue".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

        static boolean isSelf(Subscription s) {
            java.nio.ByteBuffer b = s.userData();
            if (b == null || b.remaining() != MARK.length)
                return false;
            byte[] got = new byte[MARK.length];
            b.duplicate().get(got);
            return Arrays.equals(got, MARK);
        }
    }

    static List<TopicPartition> parseList(String flag, String v) {
        List<TopicPartition> l = new ArrayList<>();
        if (v.isEmpty())
            return l;
        for (String item : v.split(",")) {
            int c = item.lastIndexOf(':');
            if (c <= 0)
                throw new IllegalArgumentException(flag + ": not T:P: " + item);
            l.add(new TopicPartition(item.substring(0, c), Integer.parseInt(item.substring(c + 1))));
        }
        return l;
    }

    static String show(Collection<TopicPartition> l) {
        StringBuilder b = new StringBuilder();
        for (TopicPartition tp : l)
            b.append(' ').append(tp.topic()).append(':').append(tp.partition());
        return b.toString();
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = null, group = null;
        List<String> topics = new ArrayList<>();
        Map<TopicPartition, Long> commits = new LinkedHashMap<>();
        String commitMeta = "";
        Properties props = new Properties();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--help")) {
                System.out.println(USAGE);
                return;
            }
            if (a.equals("--cooperative")) {
                cooperative = true;
                continue;
            }
            if (i + 1 >= args.length) {
                System.err.println("missing value for " + a + "\n" + USAGE);
                System.exit(2);
            }
            String v = args[++i];
            switch (a) {
                case "--bootstrap" -> bootstrap = v;
                case "--group" -> group = v;
                case "--subscribe" -> topics.addAll(Arrays.asList(v.split(",")));
                case "--protocol" -> protocolName = v;
                case "--self" -> selfParts = parseList(a, v);
                case "--others" -> otherParts = parseList(a, v);
                case "--commit" -> {
                    for (String item : v.split(",")) {
                        int eq = item.lastIndexOf('=');
                        TopicPartition tp = parseList(a, item.substring(0, eq)).get(0);
                        commits.put(tp, Long.parseLong(item.substring(eq + 1)));
                    }
                }
                case "--commit-metadata" -> commitMeta = v;
                case "-X" -> {
                    int eq = v.indexOf('=');
                    props.put(v.substring(0, eq), v.substring(eq + 1));
                }
                default -> {
                    System.err.println("unknown option " + a + "\n" + USAGE);
                    System.exit(2);
                }
            }
        }
        if (bootstrap == null || group == null || topics.isEmpty()) {
            System.err.println(USAGE);
            System.exit(2);
        }
        props.putIfAbsent(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.putIfAbsent(ConsumerConfig.GROUP_ID_CONFIG, group);
        props.putIfAbsent(ConsumerConfig.CLIENT_ID_CONFIG, "kos-rogue");
        props.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "classic");
        props.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, Assignor.class.getName());
        props.putIfAbsent(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.putIfAbsent(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, "false");
        props.putIfAbsent(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "10000");
        props.putIfAbsent(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "1000");
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());

        AtomicBoolean stop = new AtomicBoolean();
        CountDownLatch closed = new CountDownLatch(1);
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
            Thread main = Thread.currentThread();
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                stop.set(true);
                consumer.wakeup();
                try {
                    closed.await();
                    main.join(15000);
                } catch (InterruptedException ignored) {
                    Thread.currentThread().interrupt();
                }
            }));
            AtomicBoolean assigned = new AtomicBoolean();
            consumer.subscribe(topics, new ConsumerRebalanceListener() {
                @Override
                public void onPartitionsRevoked(Collection<TopicPartition> parts) {
                    System.out.println("revoked" + show(parts));
                    System.out.flush();
                }

                @Override
                public void onPartitionsAssigned(Collection<TopicPartition> parts) {
                    System.out.println("assigned" + show(consumer.assignment()));
                    System.out.flush();
                    assigned.set(true);
                }
            });
            boolean announced = false;
            while (!stop.get()) {
                try {
                    // Records are never looked at: the member only has to stay in the group.
                    consumer.poll(Duration.ofMillis(200));
                } catch (WakeupException e) {
                    break;
                } catch (RuntimeException e) {
                    // Its own bogus partitions make the fetcher unhappy; staying in the group is
                    // all that counts.
                    System.err.println("rogue: poll: " + e);
                }
                if (assigned.get() && !announced) {
                    for (Map.Entry<TopicPartition, Long> c : commits.entrySet()) {
                        String what = c.getKey().topic() + ":" + c.getKey().partition() + "=" + c.getValue();
                        try {
                            consumer.commitSync(Map.of(c.getKey(), new OffsetAndMetadata(c.getValue(), commitMeta)),
                                    Duration.ofSeconds(10));
                            System.out.println("committed " + what + " ok");
                        } catch (RuntimeException e) {
                            System.out.println("committed " + what + " error " + e.getClass().getSimpleName());
                        }
                    }
                    System.out.println("ready");
                    System.out.flush();
                    announced = true;
                }
            }
        } finally {
            closed.countDown();
        }
    }
}
