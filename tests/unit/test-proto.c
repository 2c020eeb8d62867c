/* test-proto.c: the shared frame and field codec (lib/proto/oc-proto.c). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "oc-proto.h"

START_TEST(test_header_roundtrip)
{
    uint8_t buf[OC_PROTO_HEADER_SIZE];
    oc_proto_header in = { .type = OC_T_DATA, .chan = OC_CHAN_ERR, .stream = 0xdeadbeef,
                           .length = OC_PROTO_MAX_PAYLOAD };
    oc_proto_header out;

    oc_proto_header_encode(buf, &in);
    /* The wire format is fixed little-endian. */
    ck_assert_uint_eq(buf[0], 0x4f);
    ck_assert_uint_eq(buf[1], 0x43);
    ck_assert_uint_eq(buf[2], OC_T_DATA);
    ck_assert_uint_eq(buf[3], OC_CHAN_ERR);
    ck_assert_uint_eq(buf[4], 0xef);
    ck_assert_uint_eq(buf[7], 0xde);
    ck_assert_uint_eq(buf[8], 0x00);
    ck_assert_uint_eq(buf[10], 0x04);
    ck_assert_int_eq(oc_proto_header_decode(&out, buf), 0);
    ck_assert_uint_eq(out.type, in.type);
    ck_assert_uint_eq(out.chan, in.chan);
    ck_assert_uint_eq(out.stream, in.stream);
    ck_assert_uint_eq(out.length, in.length);

    in = (oc_proto_header){ .type = OC_T_HELLO, .chan = 0, .stream = 0, .length = 0 };
    oc_proto_header_encode(buf, &in);
    ck_assert_int_eq(oc_proto_header_decode(&out, buf), 0);
    ck_assert_uint_eq(out.type, OC_T_HELLO);
    ck_assert_uint_eq(out.length, 0);
}
END_TEST

START_TEST(test_header_rejects)
{
    uint8_t buf[OC_PROTO_HEADER_SIZE];
    oc_proto_header h = { .type = OC_T_DATA, .chan = 1, .stream = 1, .length = 10 };
    oc_proto_header out;

    oc_proto_header_encode(buf, &h);
    buf[0] ^= 1;
    ck_assert_int_eq(oc_proto_header_decode(&out, buf), -1);
    buf[0] ^= 1;
    buf[1] = 0;
    ck_assert_int_eq(oc_proto_header_decode(&out, buf), -1);

    h.length = OC_PROTO_MAX_PAYLOAD + 1;
    oc_proto_header_encode(buf, &h);
    ck_assert_int_eq(oc_proto_header_decode(&out, buf), -1);
    h.length = 0xffffffffu;
    oc_proto_header_encode(buf, &h);
    ck_assert_int_eq(oc_proto_header_decode(&out, buf), -1);
}
END_TEST

START_TEST(test_fields_roundtrip)
{
    uint8_t buf[256];
    oc_proto_writer w;
    oc_proto_reader r;
    oc_proto_field f;
    uint64_t v64;
    uint32_t v32;
    char s[64];

    oc_proto_writer_init(&w, buf, sizeof buf);
    oc_proto_put_u8(&w, OC_F_STDIN, 1);
    oc_proto_put_u32(&w, OC_F_OP, OC_OP_EXEC);
    oc_proto_put_u64(&w, OC_F_NONCE, 0x0102030405060708ull);
    oc_proto_put_i32(&w, OC_F_EXIT_CODE, -3);
    oc_proto_put_str(&w, OC_F_ARG, "echo");
    oc_proto_put_str(&w, OC_F_ARG, "");
    oc_proto_put_bytes(&w, OC_F_ENTROPY, "\0\1\2", 3);
    ck_assert_int_eq(w.overflow, 0);
    ck_assert_uint_eq(w.len, 7 * 6 + 1 + 4 + 8 + 4 + 4 + 0 + 3);

    oc_proto_reader_init(&r, buf, w.len);
    ck_assert_int_eq(oc_proto_next(&r, &f), 1);
    ck_assert_uint_eq(f.tag, OC_F_STDIN);
    ck_assert_int_eq(oc_proto_field_u32(&f, &v32), 0);
    ck_assert_uint_eq(v32, 1);
    ck_assert_int_eq(oc_proto_next(&r, &f), 1);
    ck_assert_uint_eq(f.tag, OC_F_OP);
    ck_assert_int_eq(oc_proto_field_u64(&f, &v64), 0);
    ck_assert_uint_eq(v64, OC_OP_EXEC);
    ck_assert_int_eq(oc_proto_next(&r, &f), 1);
    ck_assert_uint_eq(f.tag, OC_F_NONCE);
    ck_assert_int_eq(oc_proto_field_u64(&f, &v64), 0);
    ck_assert_uint_eq(v64, 0x0102030405060708ull);
    /* A u64 that does not fit in u32 is refused by the u32 accessor. */
    ck_assert_int_eq(oc_proto_field_u32(&f, &v32), -1);
    ck_assert_int_eq(oc_proto_next(&r, &f), 1);
    ck_assert_int_eq(oc_proto_field_u32(&f, &v32), 0);
    ck_assert_int_eq((int32_t)v32, -3);
    ck_assert_int_eq(oc_proto_next(&r, &f), 1);
    ck_assert_uint_eq(f.tag, OC_F_ARG);
    ck_assert_int_eq(oc_proto_field_str(&f, s, sizeof s), 0);
    ck_assert_str_eq(s, "echo");
    ck_assert_int_eq(oc_proto_next(&r, &f), 1);
    ck_assert_int_eq(oc_proto_field_str(&f, s, sizeof s), 0);
    ck_assert_str_eq(s, "");
    ck_assert_int_eq(oc_proto_next(&r, &f), 1);
    ck_assert_uint_eq(f.tag, OC_F_ENTROPY);
    ck_assert_uint_eq(f.len, 3);
    ck_assert_mem_eq(f.data, "\0\1\2", 3);
    /* A 3-byte integer is not an integer. */
    ck_assert_int_eq(oc_proto_field_u64(&f, &v64), -1);
    /* An embedded NUL is not a string. */
    ck_assert_int_eq(oc_proto_field_str(&f, s, sizeof s), -1);
    ck_assert_int_eq(oc_proto_next(&r, &f), 0);
    ck_assert_int_eq(oc_proto_next(&r, &f), 0);
}
END_TEST

START_TEST(test_writer_overflow)
{
    uint8_t buf[16];
    oc_proto_writer w;

    oc_proto_writer_init(&w, buf, sizeof buf);
    oc_proto_put_u32(&w, OC_F_OP, 1); /* 10 bytes */
    ck_assert_int_eq(w.overflow, 0);
    ck_assert_uint_eq(w.len, 10);
    oc_proto_put_u8(&w, OC_F_STDIN, 1); /* 7 bytes: one too many */
    ck_assert_int_eq(w.overflow, 1);
    ck_assert_uint_eq(w.len, 10);
    /* Sticky, even for something that would fit. */
    oc_proto_writer_init(&w, buf, sizeof buf);
    oc_proto_put_bytes(&w, 1, "0123456789abc", 13);
    ck_assert_int_eq(w.overflow, 1);
    oc_proto_put_bytes(&w, 1, NULL, 0);
    ck_assert_int_eq(w.overflow, 1);
    ck_assert_uint_eq(w.len, 0);
    /* Exactly full is fine. */
    oc_proto_writer_init(&w, buf, sizeof buf);
    oc_proto_put_bytes(&w, 1, "0123456789", 10);
    ck_assert_int_eq(w.overflow, 0);
    ck_assert_uint_eq(w.len, 16);
    /* Less room than a field header. */
    oc_proto_writer_init(&w, buf, 5);
    oc_proto_put_bytes(&w, 1, NULL, 0);
    ck_assert_int_eq(w.overflow, 1);
}
END_TEST

START_TEST(test_reader_truncated)
{
    uint8_t buf[64];
    oc_proto_writer w;
    oc_proto_reader r;
    oc_proto_field f;

    oc_proto_writer_init(&w, buf, sizeof buf);
    oc_proto_put_str(&w, OC_F_PATH, "/etc/hosts");
    ck_assert_uint_eq(w.len, 16);
    /* Every cut inside the field is malformed, never read past the end. */
    for (size_t cut = 1; cut < w.len; cut++) {
        oc_proto_reader_init(&r, buf, cut);
        ck_assert_int_eq(oc_proto_next(&r, &f), -1);
    }
    /* A length that claims more than there is, including a huge one. */
    buf[2] = 0xff;
    buf[3] = 0xff;
    buf[4] = 0xff;
    buf[5] = 0xff;
    oc_proto_reader_init(&r, buf, w.len);
    ck_assert_int_eq(oc_proto_next(&r, &f), -1);
    oc_proto_reader_init(&r, buf, 0);
    ck_assert_int_eq(oc_proto_next(&r, &f), 0);
}
END_TEST

START_TEST(test_string_accessor)
{
    oc_proto_field f = { .tag = OC_F_PATH, .len = 5, .data = (const uint8_t *)"hello" };
    char out[8];

    ck_assert_int_eq(oc_proto_field_str(&f, out, sizeof out), 0);
    ck_assert_str_eq(out, "hello");
    /* Needs room for the NUL. */
    ck_assert_int_eq(oc_proto_field_str(&f, out, 6), 0);
    ck_assert_int_eq(oc_proto_field_str(&f, out, 5), -1);
    f.data = (const uint8_t *)"he\0lo";
    ck_assert_int_eq(oc_proto_field_str(&f, out, sizeof out), -1);
}
END_TEST

START_TEST(test_int_accessors)
{
    uint8_t b8[8] = { 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0, 0 };
    oc_proto_field f = { .tag = 1, .data = b8 };
    uint64_t v64;
    uint32_t v32;

    f.len = 1;
    ck_assert_int_eq(oc_proto_field_u64(&f, &v64), 0);
    ck_assert_uint_eq(v64, 0xff);
    f.len = 4;
    ck_assert_int_eq(oc_proto_field_u32(&f, &v32), 0);
    ck_assert_uint_eq(v32, 0xffffffffu);
    f.len = 8;
    ck_assert_int_eq(oc_proto_field_u64(&f, &v64), 0);
    ck_assert_uint_eq(v64, 0x1ffffffffull);
    ck_assert_int_eq(oc_proto_field_u32(&f, &v32), -1);
    for (uint32_t len = 0; len < 10; len++) {
        if (len == 1 || len == 4 || len == 8)
            continue;
        f.len = len;
        ck_assert_int_eq(oc_proto_field_u64(&f, &v64), -1);
        ck_assert_int_eq(oc_proto_field_u32(&f, &v32), -1);
    }
}
END_TEST

START_TEST(test_frame_helper)
{
    uint8_t buf[OC_PROTO_HEADER_SIZE + 4];
    oc_proto_header h;

    size_t n = oc_proto_frame(buf, OC_T_WINDOW, 0, 7, "\x00\x00\x20\x00", 4);
    ck_assert_uint_eq(n, OC_PROTO_HEADER_SIZE + 4);
    ck_assert_int_eq(oc_proto_header_decode(&h, buf), 0);
    ck_assert_uint_eq(h.type, OC_T_WINDOW);
    ck_assert_uint_eq(h.stream, 7);
    ck_assert_uint_eq(h.length, 4);
    ck_assert_mem_eq(buf + OC_PROTO_HEADER_SIZE, "\x00\x00\x20\x00", 4);
    ck_assert_str_eq(oc_proto_type_name(OC_T_HELLO_ACK), "HELLO_ACK");
    ck_assert_str_eq(oc_proto_type_name(0x3f), "unknown");
    ck_assert_str_eq(oc_proto_err_name(OC_PERR_NOENT), "no such file or directory");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("proto");
    TCase *tc = tcase_create("codec");

    tcase_add_test(tc, test_header_roundtrip);
    tcase_add_test(tc, test_header_rejects);
    tcase_add_test(tc, test_fields_roundtrip);
    tcase_add_test(tc, test_writer_overflow);
    tcase_add_test(tc, test_reader_truncated);
    tcase_add_test(tc, test_string_accessor);
    tcase_add_test(tc, test_int_accessors);
    tcase_add_test(tc, test_frame_helper);
    suite_add_tcase(s, tc);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_SILENT); /* TAP goes to stdout */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
