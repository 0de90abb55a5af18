export declare function doctor(flags: {
    json?: boolean;
}): Promise<number>;
