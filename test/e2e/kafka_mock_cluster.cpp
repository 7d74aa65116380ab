// librdkafka's mock cluster as a process of its own for the e2e tests: a real Kafka
// protocol broker on 127.0.0.1 of the namespace it runs in.
//
//   ebpfix_e2e_kafka_mock TOPIC PARTITIONS
//
// Creates TOPIC, prints "bootstraps HOST:PORT" on standard output and serves until
// SIGTERM or SIGINT.
#include <signal.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s TOPIC PARTITIONS\n", argv[0]);
        return 2;
    }
    const int partitions = std::atoi(argv[2]);
    // Signals are taken by sigwait only (librdkafka's threads inherit the mask).
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);

    char errstr[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        std::fprintf(stderr, "%s\n", errstr);
        return 1;
    }
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (rk == nullptr) {
        std::fprintf(stderr, "rd_kafka_new: %s\n", errstr);
        return 1;
    }
    rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(rk, 1);
    if (cluster == nullptr) {
        std::fprintf(stderr, "rd_kafka_mock_cluster_new failed\n");
        return 1;
    }
    if (rd_kafka_mock_topic_create(cluster, argv[1], partitions, 1) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        std::fprintf(stderr, "cannot create topic %s\n", argv[1]);
        return 1;
    }
    std::printf("bootstraps %s\n", rd_kafka_mock_cluster_bootstraps(cluster));
    std::fflush(stdout);
    int sig = 0;
    sigwait(&stop, &sig);
    rd_kafka_mock_cluster_destroy(cluster);
    rd_kafka_destroy(rk);
    return 0;
}
